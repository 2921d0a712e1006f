//! `explain`: kubectl 1.27+'s explain from the server's OpenAPI v3 documents. The type
//! is resolved by discovery (`--api-version` picks another group version), its group
//! version's document is fetched from the `/openapi/v3` index, and kubectl's plaintext
//! template is rendered over it: the GROUP/KIND/VERSION header (the kind found through
//! the resource's paths), `FIELD: name <type>` when a field path is given, DESCRIPTION
//! (descriptions of the schema and of the schemas it refers to, word-wrapped at 76
//! columns as go-wordwrap wraps), and FIELDS (properties in name order, each with its
//! type guess, `-required-`, enum values and wrapped description; one line each,
//! nested, with `--recursive`; `$ref` cycles cut as the template cuts them).

use serde_json::Value;

use super::{Global, Outcome, Result, Session};

#[derive(clap::Args)]
pub struct ExplainArgs {
    /// RESOURCE or RESOURCE.FIELD.PATH (e.g. pods, pods.spec.containers).
    pub resource: String,
    /// Print the fields of fields (currently only 1 level deep).
    #[arg(long)]
    pub recursive: bool,
    /// Use the given api-version (group/version) of the resource.
    #[arg(long)]
    pub api_version: Option<String>,
    /// plaintext (the default).
    #[arg(long)]
    pub output: Option<String>,
    #[command(flatten)]
    pub global: Global,
}

/// Go templates' truth: zero values and empty collections are false.
fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
    }
}

/// A map-valued `additionalProperties` (not a bool, not empty).
fn additional(schema: &Value) -> Option<&Value> {
    schema
        .get("additionalProperties")
        .filter(|a| a.is_object() && truthy(Some(a)))
}

fn items(schema: &Value) -> Option<&Value> {
    schema.get("items").filter(|i| truthy(Some(i)))
}

fn all_of(schema: &Value) -> &[Value] {
    schema
        .get("allOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// go-wordwrap's `WrapString`: breaks before a word that would pass `limit` columns
/// (dropping the spaces there), never inside a word, keeping existing line breaks.
pub fn wrap(s: &str, limit: usize) -> String {
    if limit == 0 {
        return s.to_string();
    }
    let mut out = String::new();
    let mut current = 0usize;
    let (mut word, mut space) = (String::new(), String::new());
    let (mut word_len, mut space_len) = (0usize, 0usize);
    for c in s.chars() {
        if c == '\n' {
            if word.is_empty() {
                if current + space_len <= limit {
                    out.push_str(&space);
                }
            } else {
                out.push_str(&space);
                out.push_str(&word);
                word.clear();
                word_len = 0;
            }
            space.clear();
            space_len = 0;
            out.push(c);
            current = 0;
        } else if c.is_whitespace() && c != '\u{a0}' {
            if space.is_empty() || !word.is_empty() {
                current += space_len + word_len;
                out.push_str(&space);
                out.push_str(&word);
                space.clear();
                space_len = 0;
                word.clear();
                word_len = 0;
            }
            space.push(c);
            space_len += 1;
        } else {
            word.push(c);
            word_len += 1;
            if current + space_len + word_len > limit && word_len < limit {
                out.push('\n');
                current = 0;
                space.clear();
                space_len = 0;
            }
        }
    }
    if word.is_empty() {
        if current + space_len <= limit {
            out.push_str(&space);
        }
    } else {
        out.push_str(&space);
        out.push_str(&word);
    }
    out
}

/// The template's `indent`: a pad before the text and after each of its line breaks.
fn indent(amount: usize, s: &str) -> String {
    let pad = " ".repeat(amount);
    format!("{pad}{}", s.replace('\n', &format!("\n{pad}")))
}

/// The rendering of one OpenAPI v3 document.
pub struct Explainer<'a> {
    pub doc: &'a Value,
    pub recursive: bool,
}

impl Explainer<'_> {
    /// `#/components/schemas/NAME` in the document.
    fn resolve(&self, r: Option<&Value>) -> Option<&Value> {
        let r = r?.as_str()?;
        let fragment = r.strip_prefix('#')?;
        let mut cur = self.doc;
        for k in fragment.split('/').filter(|k| !k.is_empty()) {
            cur = cur.get(k).filter(|v| v.is_object())?;
        }
        Some(cur)
    }

    /// The header and the explanation of `field_path` in the resource at `paths` (the
    /// list and object paths of the resource), or kubectl's error after the header.
    pub fn render(
        &self,
        search_paths: &[String],
        field_path: &[String],
    ) -> std::result::Result<String, (String, String)> {
        let mut gvk: Option<&Value> = None;
        for p in search_paths {
            let Some(element) = self.doc["paths"].get(p.as_str()) else {
                continue;
            };
            for method in ["get", "post", "put", "patch", "delete"] {
                if let Some(g) = element
                    .get(method)
                    .and_then(|m| m.get("x-kubernetes-group-version-kind"))
                    .filter(|g| truthy(Some(g)))
                {
                    gvk = Some(g);
                    break;
                }
            }
        }
        let Some(gvk) = gvk else {
            return Err((String::new(), "GVR not found in OpenAPI schema".into()));
        };
        let mut out = String::new();
        if !str_of(gvk, "group").is_empty() {
            out.push_str(&format!("GROUP:      {}\n", str_of(gvk, "group")));
        }
        out.push_str(&format!("KIND:       {}\n", str_of(gvk, "kind")));
        out.push_str(&format!("VERSION:    {}\n", str_of(gvk, "version")));
        out.push('\n');
        let schemas = self.doc["components"]["schemas"]
            .as_object()
            .into_iter()
            .flatten();
        for (_, schema) in schemas {
            let found = schema
                .get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array)
                .is_some_and(|l| l.iter().any(|g| g == gvk));
            if !found {
                continue;
            }
            let body = self.output(schema, field_path, &[]);
            if body.is_empty() {
                let field = field_path.last().cloned().unwrap_or_default();
                return Err((out, format!("field \"{field}\" does not exist")));
            }
            out.push_str(&body);
            out.push('\n');
            return Ok(out);
        }
        Err((out, format!("GVK {gvk} not found in OpenAPI schema")))
    }

    /// The template's `output`: follows the field path, then describes what it reached.
    fn output(&self, schema: &Value, path: &[String], history: &[String]) -> String {
        let ref_string = str_of(schema, "$ref").to_string();
        let mut next_history = history.to_vec();
        next_history.push(ref_string.clone());
        let resolved = self.resolve(schema.get("$ref")).unwrap_or(schema);
        let Some((first, rest)) = path.split_first() else {
            let mut out = String::from("DESCRIPTION:\n");
            let mut d = self.description(resolved);
            if d.is_empty() {
                d = "<empty>".into();
            }
            out.push_str(&indent(4, &wrap(&d, 76)));
            out.push('\n');
            let docs = external_docs(resolved);
            if !docs.is_empty() {
                out.push('\n');
                out.push_str(&docs);
            }
            let fields = self.field_list(resolved, 1, &[]);
            if !fields.is_empty() {
                out.push_str("FIELDS:\n");
                out.push_str(&fields);
            }
            return out;
        };
        if !ref_string.is_empty() && history.contains(&ref_string) {
            return String::new();
        }
        if let Some(sub) = resolved
            .get("properties")
            .and_then(|p| p.get(first.as_str()))
            .filter(|s| truthy(Some(s)))
        {
            let mut out = String::new();
            if rest.is_empty() {
                out.push_str(&format!("FIELD: {first} <{}>\n", self.type_guess(sub)));
                out.push_str(&extract_enum(sub, true, -1, 0));
                out.push_str("\n\n");
            }
            out.push_str(&self.output(sub, rest, &[]));
            return out;
        }
        if let Some(i) = items(resolved) {
            return self.output(i, path, &next_history);
        }
        if let Some(a) = additional(resolved) {
            return self.output(a, path, &next_history);
        }
        for sub in all_of(resolved) {
            let o = self.output(sub, path, &next_history);
            if !o.is_empty() {
                return o;
            }
        }
        String::new()
    }

    /// The template's `description`: the schema's own, then those it is made of.
    fn description(&self, schema: &Value) -> String {
        let s = self.resolve(schema.get("$ref")).unwrap_or(schema);
        let mut out = String::new();
        if truthy(s.get("description")) {
            out.push_str(str_of(s, "description"));
            out.push('\n');
        }
        for sub in all_of(s) {
            out.push_str(&self.description(sub));
        }
        if let Some(i) = items(s) {
            out.push_str(&self.description(i));
        }
        if let Some(a) = additional(s) {
            out.push_str(&self.description(a));
        }
        out
    }

    /// The template's `fieldList`.
    fn field_list(&self, schema: &Value, level: usize, history: &[String]) -> String {
        let ref_string = str_of(schema, "$ref").to_string();
        if !ref_string.is_empty() && history.contains(&ref_string) {
            return String::new();
        }
        let mut next = history.to_vec();
        next.push(ref_string);
        let resolved = self.resolve(schema.get("$ref")).unwrap_or(schema);
        let mut out = String::new();
        if let Some(props) = resolved.get("properties").and_then(Value::as_object) {
            for (name, sub) in props {
                out.push_str(&self.field_detail(name, resolved, level));
                if self.recursive {
                    out.push_str(&self.field_list(sub, level + 1, &next));
                }
            }
        }
        for sub in all_of(resolved) {
            out.push_str(&self.field_list(sub, level, &next));
        }
        if let Some(i) = items(resolved) {
            out.push_str(&self.field_list(i, level, &next));
        }
        if let Some(a) = additional(resolved) {
            out.push_str(&self.field_list(a, level, &next));
        }
        out
    }

    /// The template's `fieldDetail`.
    fn field_detail(&self, name: &str, parent: &Value, level: usize) -> String {
        let amount = level * 2;
        let field = &parent["properties"][name];
        let mut out = format!("{}\t<{}>", indent(amount, name), self.type_guess(field));
        let required = parent
            .get("required")
            .and_then(Value::as_array)
            .is_some_and(|r| r.iter().any(|n| n == name));
        if required {
            out.push_str(" -required-");
        }
        out.push_str(&extract_enum(field, false, 4, amount));
        out.push('\n');
        if !self.recursive {
            let d = match field.get("description") {
                Some(d) if truthy(Some(d)) => d.as_str().unwrap_or("").to_string(),
                _ => "<no description>".into(),
            };
            out.push_str(&indent(
                amount + 2,
                &wrap(&d, 78usize.saturating_sub(amount)),
            ));
            out.push('\n');
            if let Some(docs) = field.get("externalDocs").filter(|d| truthy(Some(d))) {
                out.push('\n');
                out.push_str(&indent(amount + 2, "EXTERNAL DOCS:"));
                out.push('\n');
                if truthy(docs.get("description")) {
                    out.push_str(&indent(
                        amount + 4,
                        &wrap(str_of(docs, "description"), 76usize.saturating_sub(amount)),
                    ));
                    out.push('\n');
                }
                if truthy(docs.get("url")) {
                    out.push_str(&indent(
                        amount + 4,
                        &format!("URL: {}", str_of(docs, "url")),
                    ));
                    out.push('\n');
                }
            }
            out.push('\n');
        }
        out
    }

    /// The template's `typeGuess`: `string`, `[]Container`, `map[string]string`,
    /// `Object`...
    fn type_guess(&self, schema: &Value) -> String {
        if let Some(i) = items(schema) {
            return format!("[]{}", self.type_guess(i));
        }
        if let Some(a) = additional(schema) {
            return format!("map[string]{}", self.type_guess(a));
        }
        let all = all_of(schema);
        if !all.is_empty() && !truthy(schema.get("properties")) && all.len() == 1 {
            return self.type_guess(&all[0]);
        }
        if truthy(schema.get("$ref")) {
            let r = str_of(schema, "$ref");
            let target = self.resolve(schema.get("$ref"));
            let ty = target.map(|t| str_of(t, "type")).unwrap_or("");
            if target.is_none() || ty.is_empty() || ty == "object" {
                let name = r.rsplit('/').next().unwrap_or("");
                let short = name.rsplit('.').next().unwrap_or("");
                return if short.is_empty() {
                    "Object".into()
                } else {
                    short.to_string()
                };
            }
            return ty.to_string();
        }
        match str_of(schema, "type") {
            "object" | "" => "Object".into(),
            other => other.to_string(),
        }
    }
}

/// The template's `externalDocs` for a described schema.
fn external_docs(schema: &Value) -> String {
    let Some(docs) = schema.get("externalDocs").filter(|d| truthy(Some(d))) else {
        return String::new();
    };
    let mut out = String::from("EXTERNAL DOCS:\n");
    if truthy(docs.get("description")) {
        out.push_str(&indent(4, &wrap(str_of(docs, "description"), 76)));
        out.push('\n');
    }
    if truthy(docs.get("url")) {
        out.push_str(&indent(4, &format!("URL: {}", str_of(docs, "url"))));
        out.push('\n');
    }
    out
}

/// The template's `extractEnum`: `ENUM:` with one value a line (long view) or
/// `enum: a, b, ....` on its own line (short view, at most `limit` values).
fn extract_enum(schema: &Value, long: bool, limit: i64, indent_amount: usize) -> String {
    let Some(values) = schema
        .get("enum")
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty())
    else {
        return String::new();
    };
    let mut out = if long {
        "ENUM:".to_string()
    } else {
        format!("\n{}enum: ", " ".repeat(indent_amount))
    };
    for (i, v) in values.iter().enumerate() {
        if limit > -1 && i as i64 >= limit {
            out.push_str(", ....");
            break;
        }
        if i > 0 && !long {
            out.push_str(", ");
        } else if long {
            out.push_str("\n    ");
        }
        match v {
            Value::String(s) if s.is_empty() => out.push_str("\"\""),
            Value::String(s) => out.push_str(s),
            other => out.push_str(&other.to_string()),
        }
    }
    out
}

pub async fn run(args: ExplainArgs) -> Result<Outcome> {
    if let Some(o) = args.output.as_deref().filter(|o| *o != "plaintext") {
        anyhow::bail!("unrecognized format: {o}");
    }
    let session = Session::new(&args.global)?;
    let discovery = session.discovery().await?;
    let mut parts = args.resource.split('.');
    let resource = parts.next().unwrap_or("");
    let field_path: Vec<String> = parts.map(str::to_string).collect();
    // kubectl prints this one without its `error: ` prefix.
    let missing = || {
        eprintln!("the server doesn't have a resource type \"{resource}\"");
        Ok(Outcome::Failed)
    };
    let Ok(r) = discovery.resolve(resource) else {
        return missing();
    };
    // `--api-version` names the group version whose document is read.
    let (group, version) = match args.api_version.as_deref() {
        None => (r.group.clone(), r.version.clone()),
        Some(gv) => match gv.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), gv.to_string()),
        },
    };
    let key = if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    };
    let index = session.get("/openapi/v3").await?;
    let Some(url) = index["paths"][&key]["serverRelativeURL"].as_str() else {
        anyhow::bail!(
            "couldn't find resource for \"{group}/{version}, Resource={}\"",
            r.name
        );
    };
    let doc = session.get(url).await?;
    let prefix = if group.is_empty() {
        "/api".to_string()
    } else {
        format!("/apis/{group}")
    };
    let (v, res) = (&version, &r.name);
    let search = [
        format!("{prefix}/{v}/{res}"),
        format!("{prefix}/{v}/{res}/{{name}}"),
        format!("{prefix}/{v}/namespaces/{{namespace}}/{res}"),
        format!("{prefix}/{v}/namespaces/{{namespace}}/{res}/{{name}}"),
    ];
    let explainer = Explainer {
        doc: &doc,
        recursive: args.recursive,
    };
    match explainer.render(&search, &field_path) {
        Ok(text) => {
            print!("{text}");
            Ok(Outcome::Success)
        }
        Err((partial, e)) => {
            print!("{partial}");
            anyhow::bail!("{e}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wrap_breaks_between_words_as_go_wordwrap() {
        assert_eq!(wrap("aaa bbb ccc", 7), "aaa bbb\nccc");
        assert_eq!(wrap("a verylongwordhere x", 5), "a\nverylongwordhere\nx");
        assert_eq!(wrap("line one\nline two\n", 76), "line one\nline two\n");
        assert_eq!(indent(2, "a\nb"), "  a\n  b");
    }

    #[test]
    fn renders_fields_types_and_paths_as_the_plaintext_template() {
        let doc = json!({
            "paths": {"/api/v1/namespaces/{namespace}/widgets": {"get": {
                "x-kubernetes-group-version-kind": {"group": "", "kind": "Widget", "version": "v1"}}}},
            "components": {"schemas": {
                "W": {"description": "A widget.",
                      "x-kubernetes-group-version-kind": [{"group": "", "kind": "Widget", "version": "v1"}],
                      "required": ["spec"],
                      "properties": {
                        "spec": {"allOf": [{"$ref": "#/components/schemas/S"}], "description": "The spec."},
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "mode": {"type": "string", "enum": ["", "A", "B"]}}},
                "S": {"description": "Spec of a widget.", "type": "object",
                      "properties": {"size": {"type": "integer", "description": "How big."},
                                     "labels": {"type": "object", "additionalProperties": {"type": "string"}}}}}}
        });
        let e = Explainer {
            doc: &doc,
            recursive: false,
        };
        let paths = ["/api/v1/namespaces/{namespace}/widgets".to_string()];
        let out = e.render(&paths, &[]).unwrap();
        assert_eq!(
            out,
            "KIND:       Widget\nVERSION:    v1\n\nDESCRIPTION:\n    A widget.\n    \nFIELDS:\n  mode\t<string>\n  enum: \"\", A, B\n    <no description>\n\n  spec\t<S> -required-\n    The spec.\n\n  tags\t<[]string>\n    <no description>\n\n\n"
        );
        let out = e.render(&paths, &["spec".into()]).unwrap();
        assert!(out.contains("FIELD: spec <S>\n\n\nDESCRIPTION:\n    The spec.\n    Spec of a widget.\n    \nFIELDS:\n  labels\t<map[string]string>\n"), "{out}");
        let r = Explainer {
            doc: &doc,
            recursive: true,
        };
        let out = r.render(&paths, &[]).unwrap();
        assert!(out.ends_with("FIELDS:\n  mode\t<string>\n  enum: \"\", A, B\n  spec\t<S> -required-\n    labels\t<map[string]string>\n    size\t<integer>\n  tags\t<[]string>\n\n"), "{out}");
        let (partial, e2) = e.render(&paths, &["nope".into()]).unwrap_err();
        assert_eq!(partial, "KIND:       Widget\nVERSION:    v1\n\n");
        assert_eq!(e2, "field \"nope\" does not exist");
    }
}
