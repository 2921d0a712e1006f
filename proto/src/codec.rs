//! JSON and YAML in, JSON and YAML out, with the unknown-field reporting the API server
//! needs for `fieldValidation=Strict|Warn|Ignore`.
//!
//! Decoding reports every field the target type does not know, as a Kubernetes-style path
//! (`spec.containers[0].imagePullPolicyy`), instead of failing at the first one; the caller
//! decides whether that is an error (Strict), a warning (Warn) or nothing (Ignore).
//! YAML input may hold many documents; each becomes one JSON value (empty documents are
//! skipped, as kubectl skips them).

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The API server's `fieldValidation` query parameter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldValidation {
    /// Unknown or duplicate fields fail the request (kubectl's default since 1.27).
    #[default]
    Strict,
    /// They are reported as warnings.
    Warn,
    /// They are dropped silently.
    Ignore,
}

impl FieldValidation {
    /// Parses the query parameter value as Kubernetes does (case-sensitive names).
    pub fn parse(s: &str) -> Option<FieldValidation> {
        match s {
            "Strict" => Some(FieldValidation::Strict),
            "Warn" => Some(FieldValidation::Warn),
            "Ignore" => Some(FieldValidation::Ignore),
            _ => None,
        }
    }
}

/// A decoded value and the fields its type did not know.
#[derive(Debug)]
pub struct Decoded<T> {
    pub value: T,
    /// Paths of unknown fields, e.g. `spec.replica`.
    pub unknown_fields: Vec<String>,
}

impl<T> Decoded<T> {
    /// Applies a fieldValidation directive: under Strict, unknown fields are an error
    /// (with Kubernetes' message); under Warn they come back as warning texts.
    pub fn validate(self, mode: FieldValidation) -> Result<(T, Vec<String>), CodecError> {
        let texts: Vec<String> = self
            .unknown_fields
            .iter()
            .map(|f| format!("unknown field {f:?}"))
            .collect();
        match mode {
            FieldValidation::Strict if !texts.is_empty() => Err(CodecError::Strict(texts)),
            FieldValidation::Warn => Ok((self.value, texts)),
            _ => Ok((self.value, Vec::new())),
        }
    }
}

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    /// Not well-formed JSON.
    #[error("json parse error: {0}")]
    Json(String),
    /// Not well-formed YAML.
    #[error("yaml parse error: {0}")]
    Yaml(String),
    /// Well-formed, but a value has the wrong type for its field.
    #[error("{0}")]
    Type(String),
    /// fieldValidation=Strict and some fields are unknown or duplicated.
    #[error("strict decoding error: {}", .0.join(", "))]
    Strict(Vec<String>),
}

/// One step of a path into a document.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

fn steps(path: &serde_ignored::Path<'_>, out: &mut Vec<Step>) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            steps(parent, out);
            out.push(Step::Index(*index));
        }
        Path::Map { parent, key } => {
            steps(parent, out);
            out.push(Step::Key(key.clone()));
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => steps(parent, out),
    }
}

/// `spec.containers[0].name`, as Kubernetes writes field paths.
fn render(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Whether the schema, starting at `definition`, declares the field at `path`. The typed
/// structs take apiVersion and kind of embedded resources (a StatefulSet's
/// volumeClaimTemplates) from their Resource impl instead of storing them, so serde
/// reports them as ignored although they are valid.
fn declared(definition: &str, path: &[Step]) -> bool {
    use crate::schema::FieldType;
    let schema = crate::schema::schema();
    let mut ty = FieldType::Ref(definition.to_string());
    for step in path {
        ty = match (step, &ty) {
            (Step::Key(k), FieldType::Ref(d)) => {
                match schema.definition(d).and_then(|d| d.properties.get(k)) {
                    Some(f) => f.ty.clone(),
                    None => return false,
                }
            }
            (Step::Key(_), FieldType::Map(inner)) | (Step::Index(_), FieldType::Array(inner)) => {
                inner.ty.clone()
            }
            _ => return false,
        };
    }
    true
}

fn collect_unknown<'d, T: DeserializeOwned, D: serde::Deserializer<'d>>(
    deserializer: D,
    definition: Option<&str>,
) -> Result<(T, Vec<String>), D::Error> {
    let mut ignored: Vec<Vec<Step>> = Vec::new();
    let value = serde_ignored::deserialize(deserializer, |path| {
        let mut p = Vec::new();
        steps(&path, &mut p);
        ignored.push(p);
    })?;
    let unknown = ignored
        .into_iter()
        .filter(|p| {
            let type_meta =
                matches!(p.last(), Some(Step::Key(k)) if k == "apiVersion" || k == "kind");
            match definition {
                _ if type_meta && p.len() == 1 => false,
                Some(def) if type_meta => !declared(def, p),
                _ => true,
            }
        })
        .map(|p| render(&p))
        .collect();
    Ok((value, unknown))
}

/// Decodes JSON bytes into `T`, collecting unknown fields.
pub fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<Decoded<T>, CodecError> {
    from_json_with(bytes, None)
}

/// Decodes JSON bytes into a resource type, collecting unknown fields against its schema.
pub fn from_json_resource<T: DeserializeOwned + crate::Resource>(
    bytes: &[u8],
) -> Result<Decoded<T>, CodecError> {
    from_json_with(bytes, Some(T::DEFINITION))
}

fn from_json_with<T: DeserializeOwned>(
    bytes: &[u8],
    definition: Option<&str>,
) -> Result<Decoded<T>, CodecError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let (value, unknown_fields) = collect_unknown(&mut de, definition).map_err(json_error)?;
    de.end().map_err(json_error)?;
    Ok(Decoded {
        value,
        unknown_fields,
    })
}

/// Decodes an already-parsed JSON value into `T`, collecting unknown fields.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<Decoded<T>, CodecError> {
    from_value_with(value, None)
}

/// Decodes a parsed JSON value into a resource type, collecting unknown fields against its
/// schema.
pub fn from_value_resource<T: DeserializeOwned + crate::Resource>(
    value: Value,
) -> Result<Decoded<T>, CodecError> {
    from_value_with(value, Some(T::DEFINITION))
}

fn from_value_with<T: DeserializeOwned>(
    value: Value,
    definition: Option<&str>,
) -> Result<Decoded<T>, CodecError> {
    let (value, unknown_fields) = collect_unknown(value, definition)
        .map_err(|e: serde_json::Error| CodecError::Type(e.to_string()))?;
    Ok(Decoded {
        value,
        unknown_fields,
    })
}

fn json_error(e: serde_json::Error) -> CodecError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => CodecError::Type(e.to_string()),
        _ => CodecError::Json(e.to_string()),
    }
}

/// Parses YAML text holding one or more documents into JSON values (YAML 1.2 core
/// schema; merge keys applied; scalar map keys turned into strings as sigs.k8s.io/yaml
/// does). Empty documents are skipped.
pub fn yaml_documents(text: &str) -> Result<Vec<Value>, CodecError> {
    use serde::Deserialize as _;
    let mut docs = Vec::new();
    for doc in yaml_serde::Deserializer::from_str(text) {
        let mut v =
            yaml_serde::Value::deserialize(doc).map_err(|e| CodecError::Yaml(e.to_string()))?;
        v.apply_merge()
            .map_err(|e| CodecError::Yaml(e.to_string()))?;
        let json = yaml_to_json(v)?;
        if !json.is_null() {
            docs.push(json);
        }
    }
    Ok(docs)
}

fn yaml_to_json(v: yaml_serde::Value) -> Result<Value, CodecError> {
    use yaml_serde::Value as Y;
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| CodecError::Yaml(format!("{f} is not a JSON number")))?
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(yaml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    Y::Null => "null".to_string(),
                    _ => {
                        return Err(CodecError::Yaml(
                            "map keys must be strings, numbers or booleans".into(),
                        ));
                    }
                };
                out.insert(key, yaml_to_json(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(t) => yaml_to_json(t.value)?,
    })
}

/// Parses a request or file body that may be JSON or YAML (one or many documents).
/// JSON is recognised by its first non-blank byte (`{` or `[`); a JSON `List`-style array
/// is not unpacked here.
pub fn documents(bytes: &[u8]) -> Result<Vec<Value>, CodecError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if matches!(first, Some(b'{') | Some(b'[')) {
        let mut out = Vec::new();
        for v in serde_json::Deserializer::from_slice(bytes).into_iter::<Value>() {
            out.push(v.map_err(json_error)?);
        }
        return Ok(out);
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| CodecError::Yaml(format!("input is not UTF-8: {e}")))?;
    yaml_documents(text)
}

/// The `apiVersion` and `kind` of an object, if present and strings.
pub fn type_meta(v: &Value) -> (Option<&str>, Option<&str>) {
    (
        v.get("apiVersion").and_then(Value::as_str),
        v.get("kind").and_then(Value::as_str),
    )
}

/// Compact JSON, as the API server writes it.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    serde_json::to_vec(value).map_err(|e| CodecError::Type(e.to_string()))
}

/// YAML, as `kubectl get -o yaml` shows objects.
pub fn to_yaml<T: Serialize + ?Sized>(value: &T) -> Result<String, CodecError> {
    yaml_serde::to_string(value).map_err(|e| CodecError::Type(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::apps::v1::Deployment;
    use crate::api::core::v1::Pod;

    #[test]
    fn unknown_fields_are_reported_with_kubernetes_paths() {
        let json = br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","nmae":"b"},
            "spec":{"containers":[{"name":"c","image":"i","imagePullPolicyy":"Always"}],"foo":1}}"#;
        let d = from_json::<Pod>(json).unwrap();
        assert_eq!(
            d.unknown_fields,
            vec![
                "metadata.nmae",
                "spec.containers[0].imagePullPolicyy",
                "spec.foo"
            ]
        );
        let err = from_json::<Pod>(json)
            .unwrap()
            .validate(FieldValidation::Strict)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "strict decoding error: unknown field \"metadata.nmae\", unknown field \"spec.containers[0].imagePullPolicyy\", unknown field \"spec.foo\""
        );
        let (_, warnings) = from_json::<Pod>(json)
            .unwrap()
            .validate(FieldValidation::Warn)
            .unwrap();
        assert_eq!(warnings.len(), 3);
        let (pod, warnings) = from_json::<Pod>(json)
            .unwrap()
            .validate(FieldValidation::Ignore)
            .unwrap();
        assert!(warnings.is_empty());
        assert_eq!(pod.metadata.name.as_deref(), Some("a"));
    }

    #[test]
    fn embedded_resources_may_carry_type_meta() {
        let json =
            br#"{"apiVersion":"apps/v1","kind":"StatefulSet","spec":{"volumeClaimTemplates":[
            {"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"data"}}],
            "template":{"kind":"Pod"}}}"#;
        let d = from_json_resource::<crate::api::apps::v1::StatefulSet>(json).unwrap();
        assert_eq!(d.unknown_fields, vec!["spec.template.kind"]);
        let d = from_json::<crate::api::apps::v1::StatefulSet>(json).unwrap();
        assert_eq!(
            d.unknown_fields,
            vec![
                "spec.volumeClaimTemplates[0].apiVersion",
                "spec.volumeClaimTemplates[0].kind",
                "spec.template.kind"
            ]
        );
    }

    #[test]
    fn malformed_and_mistyped_json_are_distinguished() {
        assert!(matches!(
            from_json::<Pod>(b"{\"metadata\": "),
            Err(CodecError::Json(_))
        ));
        assert!(matches!(
            from_json::<Pod>(b"{} trailing"),
            Err(CodecError::Json(_))
        ));
        assert!(matches!(
            from_json::<Pod>(br#"{"metadata":{"name":5}}"#),
            Err(CodecError::Type(_))
        ));
        assert!(matches!(
            from_json::<Deployment>(br#"{"spec":{"replicas":"three"}}"#),
            Err(CodecError::Type(_))
        ));
    }

    #[test]
    fn multi_document_yaml() {
        let text = "---\n# a comment only\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  1: one\n  true: yes\n---\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n";
        let docs = yaml_documents(text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["data"]["1"], "one");
        // YAML 1.2: `yes` is a string, not a boolean.
        assert_eq!(docs[0]["data"]["true"], "yes");
        assert_eq!(type_meta(&docs[1]), (Some("v1"), Some("Namespace")));
    }

    #[test]
    fn yaml_merge_keys_and_errors() {
        let text = "base: &b {a: 1}\nderived:\n  <<: *b\n  c: 2\n";
        let docs = yaml_documents(text).unwrap();
        assert_eq!(docs[0]["derived"]["a"], 1);
        assert!(matches!(
            yaml_documents("a: [1, 2\n"),
            Err(CodecError::Yaml(_))
        ));
        assert!(matches!(
            yaml_documents("? [a, b]\n: c\n"),
            Err(CodecError::Yaml(_))
        ));
    }

    #[test]
    fn documents_detects_json_and_yaml() {
        assert_eq!(documents(b"  {\"a\":1}{\"b\":2}").unwrap().len(), 2);
        assert_eq!(documents(b"a: 1\n---\nb: 2\n").unwrap().len(), 2);
        assert!(documents(b"\xff\xfe").is_err());
    }
}
