//! Generates clipper-proto's Kubernetes API types from the 1.33 OpenAPI definitions.
//!
//! Input: `proto/schema/v1.33-definitions.json` (JSON Schema with `$defs` keyed by the Go
//! package path, e.g. `io.k8s.api.core.v1.Pod`). Output: one Rust file per group-version
//! under `proto/src/api/`, plus `proto/src/api/mod.rs`. The output depends only on the
//! input (maps are iterated in sorted order), so regeneration is deterministic; a test in
//! clipper-proto regenerates in memory and compares with the committed files.
//!
//! Shapes of the generated code:
//! - a struct per object definition, fields in schema (alphabetical) order, except that
//!   `apiVersion`, `kind` and `metadata` come first for top-level kinds;
//! - optional fields (not in `required`) are `Option<T>` and omitted from JSON when None;
//!   required fields are plain `T`, always written (required lists as `[]`, never null),
//!   and default when absent or null on input, as Go's decoder leaves them zero;
//! - kinds with exactly one group-version-kind carry no `apiVersion`/`kind` fields: those
//!   come from the `Resource` impl, so an object can never claim the wrong kind;
//! - `Deserialize` is derived (unknown fields are ignored here and reported by the codec);
//!   `Serialize` is generated so that field order, omission and float formatting are
//!   Kubernetes'; rkyv `Archive`/`Serialize`/`Deserialize` are derived for every type.
//!
//! A few definitions are hand-written in clipper-proto and only referenced from here
//! (see [`SPECIAL`]): Quantity, IntOrString, Time, MicroTime, FieldsV1, RawExtension,
//! apiextensions JSON and the JSONSchemaPropsOr* unions.
//!
//! Every struct also gets a Kubernetes protobuf decoder and encoder (`Decode`/`Encode` in
//! `clipper_proto::protobuf`), from the field numbers in
//! `proto/schema/v1.33-protobuf-fields.json` (see [`protobuf`] for that file's format),
//! and `mod.rs` gets the table that decodes a protobuf object by apiVersion and kind.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

pub mod protobuf;

/// The group-versions Clipper serves: (definition prefix, Rust module, version, API group).
pub const GROUPS: &[(&str, &str, &str, &str)] = &[
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1",
        "meta",
        "v1",
        "meta.k8s.io",
    ),
    ("io.k8s.api.core.v1", "core", "v1", ""),
    ("io.k8s.api.apps.v1", "apps", "v1", "apps"),
    ("io.k8s.api.batch.v1", "batch", "v1", "batch"),
    (
        "io.k8s.api.discovery.v1",
        "discovery",
        "v1",
        "discovery.k8s.io",
    ),
    (
        "io.k8s.api.networking.v1",
        "networking",
        "v1",
        "networking.k8s.io",
    ),
    (
        "io.k8s.api.coordination.v1",
        "coordination",
        "v1",
        "coordination.k8s.io",
    ),
    (
        "io.k8s.api.rbac.v1",
        "rbac",
        "v1",
        "rbac.authorization.k8s.io",
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1",
        "apiextensions",
        "v1",
        "apiextensions.k8s.io",
    ),
    (
        "io.k8s.api.autoscaling.v1",
        "autoscaling",
        "v1",
        "autoscaling",
    ),
    (
        "io.k8s.api.autoscaling.v2",
        "autoscaling",
        "v2",
        "autoscaling",
    ),
    ("io.k8s.api.policy.v1", "policy", "v1", "policy"),
    ("io.k8s.api.events.v1", "events", "v1", "events.k8s.io"),
    ("io.k8s.api.storage.v1", "storage", "v1", "storage.k8s.io"),
    (
        "io.k8s.api.scheduling.v1",
        "scheduling",
        "v1",
        "scheduling.k8s.io",
    ),
    ("io.k8s.api.node.v1", "node", "v1", "node.k8s.io"),
    (
        "io.k8s.api.authentication.v1",
        "authentication",
        "v1",
        "authentication.k8s.io",
    ),
    (
        "io.k8s.api.authorization.v1",
        "authorization",
        "v1",
        "authorization.k8s.io",
    ),
    (
        "io.k8s.api.certificates.v1",
        "certificates",
        "v1",
        "certificates.k8s.io",
    ),
];

/// Definitions written by hand in clipper-proto: (definition, Rust path).
pub const SPECIAL: &[(&str, &str)] = &[
    (
        "io.k8s.apimachinery.pkg.api.resource.Quantity",
        "crate::Quantity",
    ),
    (
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
        "crate::IntOrString",
    ),
    (
        "io.k8s.apimachinery.pkg.runtime.RawExtension",
        "crate::RawExtension",
    ),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.Time", "crate::Time"),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime",
        "crate::MicroTime",
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
        "crate::FieldsV1",
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
        "crate::JsonValue",
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray",
        "crate::jsonschema::JSONSchemaPropsOrArray",
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool",
        "crate::jsonschema::JSONSchemaPropsOrBool",
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray",
        "crate::jsonschema::JSONSchemaPropsOrStringArray",
    ),
];

/// Definitions in the served groups that are not generated: they describe request
/// bodies the API server handles as raw bytes.
const SKIP: &[&str] = &["io.k8s.apimachinery.pkg.apis.meta.v1.Patch"];

/// Definitions whose fields may refer back to themselves (through Box/Vec/map), which
/// rkyv needs to know so that it does not demand infinitely recursive trait bounds.
const RECURSIVE: &[&str] =
    &["io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps"];

/// Rust keywords that appear as field names, mapped to usable identifiers.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use",
    "where", "while", "abstract", "become", "box", "do", "final", "macro", "override", "priv",
    "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// A generated file: path relative to `proto/src/api/`, and its (unformatted) contents.
pub struct GeneratedFile {
    pub name: String,
    pub contents: String,
}

/// Generates every file from the definitions JSON text and the protobuf field table.
pub fn generate(schema_json: &str, protobuf_fields_json: &str) -> Result<Vec<GeneratedFile>> {
    let table = protobuf::parse_table(protobuf_fields_json)?;
    let root: Value = serde_json::from_str(schema_json).context("parsing the definitions JSON")?;
    let defs = root
        .get("$defs")
        .and_then(Value::as_object)
        .ok_or_else(|| anyhow!("the definitions JSON has no $defs object"))?;
    let defs: BTreeMap<&str, &Value> = defs.iter().map(|(k, v)| (k.as_str(), v)).collect();

    let mut files = Vec::new();
    let mut kinds = Vec::new();
    let mut shapes: BTreeMap<String, &'static str> = BTreeMap::new();
    // (apiVersion, kind) → Rust path, for every group-version-kind of a generated struct.
    let mut protobuf_kinds: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut generated_defs = BTreeSet::new();
    for (prefix, module, version, _) in GROUPS {
        let mut out = String::new();
        writeln!(
            out,
            "//! `{prefix}`: generated by clipper-protogen from the Kubernetes 1.33 definitions. Do not edit."
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "#![allow(clippy::all, non_snake_case, non_camel_case_types)]"
        )?;
        writeln!(out)?;
        if *module == "apiextensions" {
            writeln!(
                out,
                "pub use crate::jsonschema::{{JSONSchemaPropsOrArray, JSONSchemaPropsOrBool, JSONSchemaPropsOrStringArray}};"
            )?;
            writeln!(out, "pub use crate::JsonValue as JSON;")?;
        }
        for (name, def) in defs.iter().filter(|(n, _)| in_group(n, prefix)) {
            if SKIP.contains(name) || SPECIAL.iter().any(|(s, _)| s == name) {
                continue;
            }
            let ty = short_name(name);
            let generated = generate_struct(name, def, prefix, &defs, &table)
                .with_context(|| format!("generating {name}"))?;
            out.push_str(&generated.code);
            generated_defs.insert(name.to_string());
            for gvk in def
                .get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let field = |k: &str| gvk.get(k).and_then(Value::as_str).unwrap_or("");
                let api_version = if field("group").is_empty() {
                    field("version").to_string()
                } else {
                    format!("{}/{}", field("group"), field("version"))
                };
                let key = (api_version, field("kind").to_string());
                let path = format!("{module}::{version}::{ty}");
                if let Some(other) = protobuf_kinds.insert(key.clone(), path) {
                    bail!("{key:?} names both {other} and {name}");
                }
            }
            if let Some(gvk) = generated.gvk {
                let path = format!("{module}::{version}::{ty}");
                shapes.insert(path.clone(), generated.shape);
                kinds.push((gvk, path, name.to_string()));
            }
        }
        files.push(GeneratedFile {
            name: format!("{module}_{version}.rs"),
            contents: out,
        });
    }

    let stale: Vec<&String> = table
        .definitions
        .keys()
        .filter(|d| !generated_defs.contains(*d))
        .collect();
    if !stale.is_empty() {
        bail!("the protobuf field table has definitions that are not generated: {stale:?}");
    }

    // mod.rs: the module tree and the table of kinds.
    let mut m = String::new();
    writeln!(
        m,
        "//! Kubernetes API types by group and version, generated by clipper-protogen. Do not edit."
    )?;
    writeln!(m)?;
    let mut by_module: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (_, module, version, _) in GROUPS {
        writeln!(m, "#[doc(hidden)]\npub mod {module}_{version};")?;
        by_module.entry(module).or_default().push(version);
    }
    for (module, versions) in &by_module {
        writeln!(m, "pub mod {module} {{")?;
        for v in versions {
            writeln!(m, "pub use super::{module}_{v} as {v};")?;
        }
        writeln!(m, "}}")?;
    }
    writeln!(
        m,
        "/// Every top-level kind: (group, version, kind, Rust path, definition name)."
    )?;
    writeln!(m, "pub const KINDS: &[crate::KindInfo] = &[")?;
    for ((group, version, kind), path, def) in &kinds {
        writeln!(
            m,
            "crate::KindInfo {{ group: {group:?}, version: {version:?}, kind: {kind:?}, rust_path: {path:?}, definition: {def:?} }},"
        )?;
    }
    writeln!(m, "];")?;
    writeln!(
        m,
        "/// Calls `$m!(module, version, Kind, \"group\", shape)` for every top-level kind; the type is\n/// `clipper_proto::api::module::version::Kind`, and shape is `object` (has ObjectMeta),\n/// `list` (has ListMeta) or `other`."
    )?;
    writeln!(
        m,
        "#[macro_export]\nmacro_rules! for_each_kind {{ ($m:ident) => {{"
    )?;
    for ((group, version, kind), path, _) in &kinds {
        let module = path.split("::").next().unwrap_or_default();
        writeln!(
            m,
            "$m!({module}, {version}, {kind}, {group:?}, {});",
            shapes[path.as_str()]
        )?;
    }
    writeln!(m, "}}; }}")?;
    writeln!(
        m,
        "/// Decodes the protobuf message of a kind (any group-version-kind a generated struct is\n/// listed for) into its JSON; None for other kinds. See [`crate::protobuf::decode_kind`]."
    )?;
    writeln!(
        m,
        "pub(crate) fn decode_protobuf_kind(api_version: &str, kind: &str, raw: &[u8], depth: usize) -> Option<Result<serde_json::Value, crate::protobuf::ProtobufError>> {{"
    )?;
    writeln!(m, "use crate::protobuf::decode_json_at as d;")?;
    writeln!(m, "Some(match (api_version, kind) {{")?;
    let mut by_path: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for ((api_version, kind), path) in &protobuf_kinds {
        by_path
            .entry((path.as_str(), kind.as_str()))
            .or_default()
            .push(api_version.as_str());
    }
    for ((path, kind), api_versions) in &by_path {
        let pattern: Vec<String> = api_versions.iter().map(|v| format!("{v:?}")).collect();
        writeln!(
            m,
            "({}, {kind:?}) => d::<{path}>(raw, depth),",
            pattern.join(" | ")
        )?;
    }
    writeln!(m, "_ => return None,")?;
    writeln!(m, "}})")?;
    writeln!(m, "}}")?;
    files.push(GeneratedFile {
        name: "mod.rs".into(),
        contents: m,
    });
    Ok(files)
}

/// Formats generated code with the toolchain's rustfmt (edition 2024), so that the
/// committed files pass `cargo fmt --check` and regeneration is byte-for-byte stable.
pub fn rustfmt(code: &str) -> Result<String> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::var("RUSTFMT").unwrap_or_else(|_| "rustfmt".into()))
        .args(["--edition", "2024", "--emit", "stdout", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running rustfmt")?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| anyhow!("rustfmt has no stdin"))?;
    let input = code.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().context("waiting for rustfmt")?;
    writer
        .join()
        .map_err(|_| anyhow!("rustfmt writer panicked"))??;
    if !output.status.success() {
        bail!(
            "rustfmt failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8(output.stdout).context("rustfmt output is not UTF-8")
}

fn in_group(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|rest| !rest.contains('.'))
}

fn short_name(def: &str) -> &str {
    def.rsplit('.').next().unwrap_or(def)
}

struct GeneratedStruct {
    code: String,
    gvk: Option<(String, String, String)>,
    /// `object`, `list` or `other`: whether the kind has ObjectMeta, ListMeta or neither.
    shape: &'static str,
}

/// A field's Rust type and what its serializer needs to know.
struct FieldType {
    rust: String,
    /// Contains an f64 that must be written as Go writes floats.
    float: bool,
    /// Refers back to a recursive definition (needs `#[rkyv(omit_bounds)]`).
    recursive: bool,
    /// A generated struct held inline, worth boxing in the archive when optional.
    boxable: bool,
}

fn generate_struct(
    name: &str,
    def: &Value,
    prefix: &str,
    defs: &BTreeMap<&str, &Value>,
    table: &protobuf::FieldTable,
) -> Result<GeneratedStruct> {
    let ty = short_name(name);
    let props = def.get("properties").and_then(Value::as_object);
    let required: BTreeSet<&str> = def
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let gvks = def
        .get("x-kubernetes-group-version-kind")
        .and_then(Value::as_array);
    let single_gvk = match gvks {
        Some(list) if list.len() == 1 => {
            let g = &list[0];
            let field = |k: &str| g.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            Some((field("group"), field("version"), field("kind")))
        }
        _ => None,
    };
    let is_resource = single_gvk.is_some() && props.is_some_and(|p| p.contains_key("metadata"));
    let recursive_struct = RECURSIVE.contains(&name);
    let list_meta = props.is_some_and(|p| {
        p.get("metadata")
            .and_then(|m| m.get("$ref"))
            .and_then(Value::as_str)
            .is_some_and(|r| r.ends_with("meta.v1.ListMeta"))
    });

    struct Field {
        json: String,
        ident: String,
        ty: FieldType,
        optional: bool,
        container: protobuf::Container,
        doc: String,
    }
    let mut fields: Vec<Field> = Vec::new();
    if let Some(props) = props {
        let mut names: Vec<&String> = props.keys().collect();
        // apiVersion, kind, metadata first; the rest in schema order (alphabetical).
        names.sort_by_key(|n| match n.as_str() {
            "apiVersion" => (0, n.as_str()),
            "kind" => (1, n.as_str()),
            "metadata" => (2, n.as_str()),
            _ => (3, n.as_str()),
        });
        for json in names {
            if single_gvk.is_some() && (json == "apiVersion" || json == "kind") {
                continue;
            }
            let schema = &props[json];
            let ft = field_type(schema, prefix, defs).with_context(|| format!("field {json}"))?;
            let is_time = schema
                .get("$ref")
                .and_then(Value::as_str)
                .is_some_and(|r| r.ends_with("meta.v1.Time") || r.ends_with("meta.v1.MicroTime"));
            // Go writes a zero Time as null, so a Time is never "always present".
            let optional = (!required.contains(json.as_str()) || is_time)
                && !(is_resource && json == "metadata");
            fields.push(Field {
                json: json.clone(),
                ident: field_ident(json),
                ty: ft,
                optional,
                container: protobuf::Container::of(schema),
                doc: first_paragraph(
                    schema
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                ),
            });
        }
    }

    let mut code = String::new();
    writeln!(code)?;
    for line in
        first_paragraph(def.get("description").and_then(Value::as_str).unwrap_or("")).lines()
    {
        writeln!(code, "/// {line}")?;
    }
    writeln!(
        code,
        "#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]"
    )?;
    if recursive_struct {
        writeln!(
            code,
            "#[rkyv(serialize_bounds(__S: rkyv::ser::Writer + rkyv::ser::Allocator, __S::Error: rkyv::rancor::Source))]"
        )?;
        writeln!(
            code,
            "#[rkyv(deserialize_bounds(__D::Error: rkyv::rancor::Source))]"
        )?;
        writeln!(
            code,
            "#[rkyv(bytecheck(bounds(__C: rkyv::validation::ArchiveContext, __C::Error: rkyv::rancor::Source)))]"
        )?;
    }
    writeln!(code, "pub struct {ty} {{")?;
    for f in &fields {
        for line in f.doc.lines() {
            writeln!(code, "    /// {line}")?;
        }
        if f.optional {
            writeln!(code, "    #[serde(rename = {:?}, default)]", f.json)?;
        } else {
            writeln!(
                code,
                "    #[serde(rename = {:?}, default, deserialize_with = \"crate::serde_util::null_as_default\")]",
                f.json
            )?;
        }
        if f.ty.recursive && recursive_struct {
            writeln!(code, "    #[rkyv(omit_bounds)]")?;
        }
        if f.optional && f.ty.boxable {
            // An absent Option<T> archives inline at T's full size; boxing it in the
            // archive keeps absent sub-objects to a few bytes without changing the Rust type.
            writeln!(
                code,
                "    #[rkyv(with = rkyv::with::Map<rkyv::with::AsBox>)]"
            )?;
        }
        let t = if f.optional {
            format!("Option<{}>", f.ty.rust)
        } else {
            f.ty.rust.clone()
        };
        writeln!(code, "    pub {}: {t},", f.ident)?;
    }
    writeln!(code, "}}")?;

    // Serialize: Kubernetes' field order and omission rules.
    writeln!(code)?;
    writeln!(code, "impl serde::Serialize for {ty} {{")?;
    writeln!(
        code,
        "    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {{"
    )?;
    writeln!(code, "        use serde::ser::SerializeStruct as _;")?;
    let n = fields.len() + if single_gvk.is_some() { 2 } else { 0 };
    let mutability = if n == 0 { "" } else { "mut " };
    writeln!(
        code,
        "        let {mutability}s = serializer.serialize_struct({ty:?}, {n})?;"
    )?;
    if single_gvk.is_some() {
        writeln!(
            code,
            "        s.serialize_field(\"apiVersion\", <Self as crate::Resource>::API_VERSION)?;"
        )?;
        writeln!(
            code,
            "        s.serialize_field(\"kind\", <Self as crate::Resource>::KIND)?;"
        )?;
    }
    for f in &fields {
        let value = |v: &str| {
            if f.ty.float {
                format!("&crate::serde_util::GoFloat({v})")
            } else {
                v.to_string()
            }
        };
        if f.optional {
            writeln!(
                code,
                "        if let Some(v) = &self.{} {{ s.serialize_field({:?}, {})?; }}",
                f.ident,
                f.json,
                value("v")
            )?;
        } else {
            writeln!(
                code,
                "        s.serialize_field({:?}, {})?;",
                f.json,
                value(&format!("&self.{}", f.ident))
            )?;
        }
    }
    writeln!(code, "        s.end()")?;
    writeln!(code, "    }}")?;
    writeln!(code, "}}")?;

    if let Some((group, version, kind)) = &single_gvk {
        let api_version = if group.is_empty() {
            version.clone()
        } else {
            format!("{group}/{version}")
        };
        writeln!(code)?;
        writeln!(code, "impl crate::Resource for {ty} {{")?;
        writeln!(code, "    const GROUP: &'static str = {group:?};")?;
        writeln!(code, "    const VERSION: &'static str = {version:?};")?;
        writeln!(code, "    const KIND: &'static str = {kind:?};")?;
        writeln!(
            code,
            "    const API_VERSION: &'static str = {api_version:?};"
        )?;
        writeln!(code, "    const DEFINITION: &'static str = {name:?};")?;
        writeln!(code, "}}")?;
        if is_resource {
            let meta = if list_meta { "ListMeta" } else { "ObjectMeta" };
            writeln!(code)?;
            writeln!(code, "impl crate::Has{meta} for {ty} {{")?;
            writeln!(
                code,
                "    fn metadata(&self) -> &crate::api::meta::v1::{meta} {{ &self.metadata }}"
            )?;
            writeln!(
                code,
                "    fn metadata_mut(&mut self) -> &mut crate::api::meta::v1::{meta} {{ &mut self.metadata }}"
            )?;
            writeln!(code, "}}")?;
        }
    }
    let pb_fields: Vec<protobuf::PbField<'_>> = fields
        .iter()
        .map(|f| protobuf::PbField {
            json: &f.json,
            ident: &f.ident,
            optional: f.optional,
            container: f.container,
        })
        .collect();
    code.push_str(&protobuf::generate_impls(name, ty, &pb_fields, table)?);

    let shape = match (is_resource, list_meta) {
        (true, true) => "list",
        (true, false) => "object",
        _ => "other",
    };
    Ok(GeneratedStruct {
        code,
        gvk: single_gvk,
        shape,
    })
}

fn field_type(schema: &Value, prefix: &str, defs: &BTreeMap<&str, &Value>) -> Result<FieldType> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = r
            .strip_prefix("#/$defs/")
            .ok_or_else(|| anyhow!("unsupported $ref {r}"))?;
        let recursive = RECURSIVE.contains(&target) || target.contains("JSONSchemaPropsOr");
        if let Some((_, path)) = SPECIAL.iter().find(|(s, _)| *s == target) {
            return Ok(FieldType {
                rust: path.to_string(),
                float: false,
                recursive,
                boxable: false,
            });
        }
        if !defs.contains_key(target) {
            bail!("$ref to unknown definition {target}");
        }
        let (group_prefix, module, version) = GROUPS
            .iter()
            .find(|(p, ..)| in_group(target, p))
            .map(|(p, m, v, _)| (*p, *m, *v))
            .ok_or_else(|| anyhow!("$ref to {target}, which is in no generated group"))?;
        let name = short_name(target);
        let mut rust = if group_prefix == prefix {
            name.to_string()
        } else {
            format!("crate::api::{module}::{version}::{name}")
        };
        let boxable = !RECURSIVE.contains(&target);
        if RECURSIVE.contains(&target) {
            rust = format!("Box<{rust}>");
        }
        return Ok(FieldType {
            rust,
            float: false,
            recursive,
            boxable,
        });
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => vec![],
    };
    let format = schema.get("format").and_then(Value::as_str);
    let plain = |rust: &str| FieldType {
        rust: rust.to_string(),
        float: false,
        recursive: false,
        boxable: false,
    };
    match types.as_slice() {
        ["string"] => Ok(plain(if format == Some("byte") {
            "crate::ByteString"
        } else {
            "String"
        })),
        ["integer"] => Ok(plain(if format == Some("int32") {
            "i32"
        } else {
            "i64"
        })),
        ["number"] => Ok(FieldType {
            rust: "f64".into(),
            float: true,
            recursive: false,
            boxable: false,
        }),
        ["boolean"] => Ok(plain("bool")),
        ["array"] => {
            let items = schema
                .get("items")
                .ok_or_else(|| anyhow!("array without items"))?;
            let inner = field_type(items, prefix, defs)?;
            // A Vec already gives indirection: no Box needed for recursive items.
            let rust = unbox(&inner.rust);
            Ok(FieldType {
                rust: format!("Vec<{rust}>"),
                boxable: false,
                ..inner
            })
        }
        ["object"] => match schema.get("additionalProperties") {
            Some(ap) if ap.is_object() => {
                let inner = field_type(ap, prefix, defs)?;
                let rust = unbox(&inner.rust);
                Ok(FieldType {
                    rust: format!("std::collections::BTreeMap<String, {rust}>"),
                    boxable: false,
                    ..inner
                })
            }
            _ => Ok(plain("crate::JsonValue")),
        },
        [] => Ok(plain("crate::JsonValue")),
        other => bail!("unsupported type {other:?}"),
    }
}

fn unbox(rust: &str) -> &str {
    rust.strip_prefix("Box<")
        .and_then(|r| r.strip_suffix('>'))
        .unwrap_or(rust)
}

/// `hostIP` → `host_ip`, `podCIDRs` → `pod_cidrs`, `$ref` → `ref_path`, `type` → `type_`.
pub fn field_ident(json: &str) -> String {
    match json {
        "$ref" => return "ref_path".into(),
        "$schema" => return "schema".into(),
        _ => {}
    }
    let chars: Vec<char> = json.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c == '-' || c == '.' || c == '$' {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            continue;
        }
        if c.is_ascii_uppercase() {
            let prev = if i > 0 { chars[i - 1] } else { '_' };
            let next = chars.get(i + 1).copied();
            // A trailing plural "s" stays with its acronym: IPs, CIDRs.
            let next_is_plural_s =
                next == Some('s') && chars.get(i + 2).is_none_or(|c| c.is_ascii_uppercase());
            let starts_word = prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase()
                    && next.is_some_and(|n| n.is_ascii_lowercase())
                    && !next_is_plural_s);
            if starts_word && !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    if KEYWORDS.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

/// The first paragraph of a description, on one or more lines, safe for `///` comments
/// (no indentation that rustdoc would take for a code block).
fn first_paragraph(description: &str) -> String {
    let para = description.split("\n\n").next().unwrap_or("");
    let text: Vec<&str> = para.split_whitespace().collect();
    let mut out = String::new();
    let mut line = String::new();
    for word in text {
        if line.len() + word.len() > 90 && !line.is_empty() {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    // Square brackets would be read as intra-doc links; angle brackets as HTML.
    out.replace('[', "\\[")
        .replace(']', "\\]")
        .replace('<', "\\<")
        .replace('>', "\\>")
}

#[cfg(test)]
mod tests {
    use super::field_ident;

    #[test]
    fn field_idents() {
        for (json, ident) in [
            ("hostIP", "host_ip"),
            ("podIPs", "pod_ips"),
            ("podCIDRs", "pod_cidrs"),
            ("containerPort", "container_port"),
            ("type", "type_"),
            ("continue", "continue_"),
            ("$ref", "ref_path"),
            ("$schema", "schema"),
            ("x-kubernetes-list-map-keys", "x_kubernetes_list_map_keys"),
            ("nonResourceURLs", "non_resource_urls"),
            ("externalIPs", "external_ips"),
            ("ipv4", "ipv4"),
            ("fsGroupChangePolicy", "fs_group_change_policy"),
            (
                "targetCPUUtilizationPercentage",
                "target_cpu_utilization_percentage",
            ),
            ("apiVersion", "api_version"),
            ("uid", "uid"),
            ("URL", "url"),
        ] {
            assert_eq!(field_ident(json), ident, "{json}");
        }
    }
}
